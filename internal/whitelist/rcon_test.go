package whitelist_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/whitelist"
	"github.com/paidup/paidup/internal/whitelist/whitelisttest"
)

var steve = whitelist.Player{ID: "8667ba71-b85a-4004-af54-457a9734eed7", Name: "Steve"}

// Granting and revoking over RCON are idempotent, and the list reads back
// who is on the whitelist; a connection the server dropped is made again.
func TestRCONWhitelist(t *testing.T) {
	srv := whitelisttest.StartRCON(t, "hunter2")
	ctx := context.Background()
	c := &whitelist.RCON{Addr: srv.Addr, Password: "hunter2"}
	defer c.Close()
	var sink whitelist.Sink = c
	require.NoError(t, sink.Grant(ctx, steve))
	require.NoError(t, sink.Grant(ctx, steve))
	require.NoError(t, sink.Grant(ctx, whitelist.Player{ID: "x", Name: "Alex_2"}))
	list, err := sink.List(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"Steve", "Alex_2"}, list)

	srv.Drop() // the server restarts
	require.Error(t, sink.Revoke(ctx, steve), "the broken connection fails its command")
	require.NoError(t, sink.Revoke(ctx, steve), "and the next makes it again")
	require.NoError(t, sink.Revoke(ctx, steve))
	require.Equal(t, []string{"Alex_2"}, srv.Whitelist())
	require.Equal(t, []string{"whitelist add Steve", "whitelist add Steve", "whitelist add Alex_2", "whitelist list",
		"whitelist remove Steve", "whitelist remove Steve"}, srv.Commands())
}

// A wrong password is named; a name that is not a player's never reaches
// the console, where it could run another command.
func TestRCONRefusals(t *testing.T) {
	srv := whitelisttest.StartRCON(t, "hunter2")
	ctx := context.Background()
	wrong := &whitelist.RCON{Addr: srv.Addr, Password: "nope"}
	require.ErrorIs(t, wrong.Grant(ctx, steve), whitelist.ErrRCONAuth)
	c := &whitelist.RCON{Addr: srv.Addr, Password: "hunter2"}
	defer c.Close()
	for _, name := range []string{"Steve\nop Steve", "St", "Steve; op Steve", ""} {
		require.Error(t, c.Grant(ctx, whitelist.Player{ID: "x", Name: name}), name)
	}
	_, err := c.Command(ctx, "say hi\nop Steve")
	require.Error(t, err)
	require.Empty(t, srv.Commands())
	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Empty(t, list)
}
