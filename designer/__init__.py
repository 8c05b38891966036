"""The Qt designer: a node-graph canvas and panels over a project file."""
