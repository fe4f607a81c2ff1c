package sandbox

import (
	_ "embed"
	"net/http"
)

// favicon is paidup's icon in the sandbox's amber, so that its tabs are
// told apart from the shop's.
//
//go:embed favicon.ico
var favicon []byte

// showFavicon serves the icon browsers ask every site for, cached for a
// month.
func showFavicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=2592000")
	w.Write(favicon)
}
