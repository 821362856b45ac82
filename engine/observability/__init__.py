"""What the engine says about itself while it runs: Prometheus metrics (`metrics`)."""
