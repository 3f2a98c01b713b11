"""Pure computation, no I/O: availability, pose kinematics, frame inference, PDF rendering."""
