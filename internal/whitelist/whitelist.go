// Package whitelist is the game servers' whitelist as paidup drives it:
// one Sink interface (grant a player, revoke them, list who is on it),
// with adapters for a generic HTTP API and for RCON, the remote console
// Minecraft and Source servers speak. Players are keyed by a stable id
// (Minecraft: the Mojang UUID, since names change); the commands name them
// as the server wants.
package whitelist

import (
	"context"
	"errors"
)

// Player is a game account: its stable id and its name now.
type Player struct {
	ID, Name string
}

// Sink is a whitelist. Grant and Revoke are idempotent: granting a
// player already on it, or revoking one who is not, succeeds.
type Sink interface {
	Grant(ctx context.Context, p Player) error
	Revoke(ctx context.Context, p Player) error
	// List is who is on the whitelist, by name; ErrCannotList for a
	// sink that cannot say.
	List(ctx context.Context) ([]string, error)
}

// ErrCannotList: the sink cannot list its whitelist, so drift is not
// read back from it.
var ErrCannotList = errors.New("whitelist: this sink cannot list its whitelist")
