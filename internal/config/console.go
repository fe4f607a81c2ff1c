package config

import "time"

// Console configures the support console's operator sessions.
type Console struct {
	// SessionIdle ends a session unused for that long; SessionLifetime
	// ends it that long after sign-in, used or not.
	SessionIdle     Duration `yaml:"session_idle"`
	SessionLifetime Duration `yaml:"session_lifetime"`
}

func (c *Console) applyDefaults() {
	if c.SessionIdle == 0 {
		c.SessionIdle = Duration(time.Hour)
	}
	if c.SessionLifetime == 0 {
		c.SessionLifetime = Duration(12 * time.Hour)
	}
}

func (c *Console) validate(v *validator) {
	if c.SessionIdle < Duration(time.Minute) {
		v.errorf(v.line("console", "session_idle"), "console.session_idle: %s is less than 1m", c.SessionIdle.D())
	}
	if c.SessionLifetime < c.SessionIdle || c.SessionLifetime > Duration(30*24*time.Hour) {
		v.errorf(v.line("console", "session_lifetime"), "console.session_lifetime: %s is not from console.session_idle (%s) to 720h",
			c.SessionLifetime.D(), c.SessionIdle.D())
	}
}
