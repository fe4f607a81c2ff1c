package main

import (
	"net/http"
	"time"

	"github.com/paidup/paidup/internal/console"
	"github.com/paidup/paidup/internal/support"
	"github.com/paidup/paidup/internal/web"
)

// withConsole serves the support console under /console/ beside the
// customer pages (shop), on the same server; now is the business clock, at
// which the console reads access.
func (a *app) withConsole(shop *web.Server, desk *support.Service, now func() time.Time) http.Handler {
	ops := operators(a.cfg)
	ops.Store = a.store
	mux := http.NewServeMux()
	mux.Handle("/console/", console.NewServer(console.Deps{
		Store: a.store, Operators: ops, Support: desk, AccountView: shop.AccountView, OnCall: a.paging, Alerts: a.alerts, Policy: &a.cfg.Policy, Business: a.cfg.Business.Name,
		PublicURL: a.publicURL, TrustedProxies: a.cfg.Server.Proxies, Now: now, Logger: a.log.With("component", "console"),
	}))
	mux.Handle("/", shop)
	return mux
}
