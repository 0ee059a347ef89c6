"""Sources that are still being written or sent: growing files (`follow`)."""
