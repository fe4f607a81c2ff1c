package stripe

import (
	"context"
	"time"
)

// TestClockTime reads a test clock's time (test mode only).
func (c *Client) TestClockTime(ctx context.Context, id string) (time.Time, error) {
	tc, err := c.api.V1TestHelpersTestClocks.Retrieve(ctx, id, nil)
	if err != nil {
		return time.Time{}, wrap(err, "reading test clock %s", id)
	}
	return time.Unix(tc.FrozenTime, 0).UTC(), nil
}
