"""The gRPC protocol adapter: servicers (thin), protobuf <-> data plane converters, the app."""
