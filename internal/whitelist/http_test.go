package whitelist_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/whitelist"
)

// A generic HTTP whitelist is called as its templates say, with the auth
// header; its success codes decide; a 5xx is worth trying again.
func TestHTTPWhitelist(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	status := http.StatusCreated
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		calls = append(calls, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+string(body))
		w.WriteHeader(status)
	}))
	defer srv.Close()
	ctx := context.Background()
	h, err := whitelist.NewHTTP(
		whitelist.HTTPAction{URL: srv.URL + "/whitelist", Body: `{"uuid": {{json .ID}}, "name": {{json .Name}}}`, Success: []int{201, 409}},
		whitelist.HTTPAction{Method: "DELETE", URL: srv.URL + "/whitelist/{{urlquery .ID}}"},
		"Authorization: Bearer s3cret", nil)
	require.NoError(t, err)
	require.NoError(t, h.Grant(ctx, steve))
	status = http.StatusConflict // already on it
	require.NoError(t, h.Grant(ctx, steve))
	status = http.StatusNoContent
	require.NoError(t, h.Revoke(ctx, steve))
	status = http.StatusBadGateway
	err = h.Grant(ctx, steve)
	var se *whitelist.StatusError
	require.ErrorAs(t, err, &se)
	require.True(t, se.Temporary())
	_, err = h.List(ctx)
	require.ErrorIs(t, err, whitelist.ErrCannotList)
	require.Equal(t, []string{
		`POST /whitelist Bearer s3cret {"uuid": "8667ba71-b85a-4004-af54-457a9734eed7", "name": "Steve"}`,
		`POST /whitelist Bearer s3cret {"uuid": "8667ba71-b85a-4004-af54-457a9734eed7", "name": "Steve"}`,
		`DELETE /whitelist/8667ba71-b85a-4004-af54-457a9734eed7 Bearer s3cret `,
		`POST /whitelist Bearer s3cret {"uuid": "8667ba71-b85a-4004-af54-457a9734eed7", "name": "Steve"}`,
	}, calls)

	for _, bad := range []whitelist.HTTPAction{{URL: "{{.Nope}}"}, {URL: "ftp://x/{{.Name}}"}, {URL: "{{"}} {
		_, err := whitelist.NewHTTP(bad, bad, "", nil)
		require.Error(t, err, bad.URL)
	}
	_, err = whitelist.NewHTTP(whitelist.HTTPAction{URL: srv.URL}, whitelist.HTTPAction{URL: srv.URL}, "Authorization\r\nX: y", nil)
	require.Error(t, err)
}
