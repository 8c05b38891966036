"""The simulation workspace in the designer: the run panel, the time-warp replay on the canvas, the plots, and the
review of saved runs (Qt views over the pure simulator package)."""
