"""Pure computation, no I/O: availability, pose kinematics and rep counting, the guided session,
frame decoding, telemetry batch validation."""
