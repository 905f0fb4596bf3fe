"""Graph passes: type inference, constant folding, DCE, partitioning, buffer planning."""
