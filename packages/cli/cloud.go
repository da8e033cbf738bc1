package cli

// cloudCommands are the personal cloud's commands (issue 4).
func cloudCommands() map[string]Command { return nil }
