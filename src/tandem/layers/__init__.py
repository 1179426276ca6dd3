"""Channel layers shipped by tandem (``tandem.layers.inmemory.TandemInMemoryChannelLayer``)."""
