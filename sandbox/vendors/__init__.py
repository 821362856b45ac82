"""One module per vendor: `user_id(seed)`, `dataset(user, timeline)` and `routes(state)`."""
