package notify

import (
	"fmt"
	"slices"
	"strings"
)

// checkFromByKind refuses a From for a kind of email paidup does not send.
func (s *Sender) checkFromByKind() error {
	for kind := range s.FromByKind {
		if !slices.Contains(builtinKinds, kind) {
			return fmt.Errorf("smtp.from_by_kind: paidup sends no %q email; the kinds are %s", kind, strings.Join(builtinKinds, ", "))
		}
	}
	return nil
}
