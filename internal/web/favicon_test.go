package web_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/sqldb"
)

// Browsers ask every site for /favicon.ico: paidup answers with its icon,
// cached for weeks, so that neither the browser's console nor the log
// shows a 404 for it.
func TestFavicon(t *testing.T) {
	b := setup(t, sqldb.SQLite)
	r := b.do(t, "GET", "/favicon.ico", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "image/x-icon", r.header.Get("Content-Type"))
	require.True(t, bytes.HasPrefix([]byte(r.body), []byte{0, 0, 1, 0}), "an ICO file")
	cache := r.header.Get("Cache-Control")
	require.True(t, strings.HasPrefix(cache, "public, max-age="), cache)
	age, err := strconv.Atoi(strings.TrimPrefix(cache, "public, max-age="))
	require.NoError(t, err)
	require.GreaterOrEqual(t, age, 7*24*3600, "cached for a week at least")
}
