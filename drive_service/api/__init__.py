"""gRPC servicers, interceptors and conversions; the only layer that imports generated stubs."""
