"""Domain operations shared by the API and the CLI; they take a Session and an actor."""
