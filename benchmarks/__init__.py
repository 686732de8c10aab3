"""Side-by-side benchmarks: pgjet vs asyncpg vs psycopg 3 (see benchmarks/README.md)."""
