"""housing-contracts: the California-housing data contract shared by producer and consumer."""
