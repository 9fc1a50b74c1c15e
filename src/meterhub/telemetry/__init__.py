"""Pure telemetry cores: MQTT payload decoding, energy from counters, calendar periods."""
