package server_test

import "os"

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "patchgate-bench-") }
