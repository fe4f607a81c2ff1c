package stripespec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const stripeMock = "github.com/stripe/stripe-mock"

// specPath returns the path of spec3.json in the stripe-mock module that the
// enclosing module's go.mod selects, downloading the module if needed.
func specPath() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := moduleDir(root, "list", "-m", "-json", stripeMock)
	if err == nil && dir == "" {
		dir, err = moduleDir(root, "mod", "download", "-json", stripeMock)
	}
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", fmt.Errorf("%s is not downloaded", stripeMock)
	}
	return filepath.Join(dir, "embedded", "openapi", "spec3.json"), nil
}

// moduleRoot walks up from the working directory to the nearest go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above it")
		}
		dir = parent
	}
}

// moduleDir runs a go command printing a module as JSON and returns its Dir.
func moduleDir(root string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var m struct {
		Dir   string
		Error *struct{ Err string }
	}
	if err == nil {
		err = json.Unmarshal(out, &m)
	}
	if err == nil && m.Error != nil {
		err = errors.New(m.Error.Err)
	}
	if err != nil {
		return "", fmt.Errorf("go %s (in %s): %v %s", strings.Join(args, " "), root, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return m.Dir, nil
}
