"""The dataset format and the data-side SAIL mechanisms (mining, balancing, stochastic specialization)."""
