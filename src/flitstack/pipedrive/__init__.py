"""The Pipedrive API client: async httpx, typed errors, rate governor, pagination."""
