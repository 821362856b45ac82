"""The store's SQL, written once per concern and run on either database through an `Executor`
(`engine.store.sqlite_db`, `engine.store.postgres_db`); `store.SqlStore` puts the concerns
together."""
