package web

import (
	_ "embed"
	"net/http"
)

//go:embed favicon.ico
var favicon []byte

// handleFavicon serves the icon browsers ask every site for, so that
// neither the browser's console nor paidup's log shows a 404 for it. It is
// cached for a month and not logged.
func handleFavicon() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/x-icon")
		w.Header().Set("Cache-Control", "public, max-age=2592000")
		w.Write(favicon)
	})
}
