"""wirematch control plane: the appliance, its shared-memory views and the CLI."""
