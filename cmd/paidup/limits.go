package main

import (
	"github.com/paidup/paidup/internal/config"
	"github.com/paidup/paidup/internal/limit"
	"github.com/paidup/paidup/internal/obs"
	"github.com/paidup/paidup/internal/web"
)

// processorBudget is the configured budget of processor calls, counted in
// metrics.
func processorBudget(cfg *config.Config, m *obs.Metrics) limit.Budget {
	p := cfg.Limits.Processor
	return limit.Budget{
		ReadsPerSecond: *p.ReadsPerSecond, WritesPerSecond: *p.WritesPerSecond, CustomerWait: p.CustomerWait.D(),
		Waited: m.ProcessorBudgetWaited, Refused: m.ProcessorBudgetRefused,
	}
}

// webLimits are the configured per-client limits; turned off, none (the
// alert on refusals still watches the processor budget's).
func webLimits(l config.Limits) web.Limits {
	out := web.Limits{MaxClients: l.MaxClients, AlertAfter: l.AlertAfter}
	if !l.On() {
		return out
	}
	rule := func(r config.Rate) limit.Rule { return limit.Rule{PerMinute: float64(r.PerMinute), Burst: r.Burst} }
	out.Checkout, out.SignInLink, out.SignIn = rule(l.Checkout), rule(l.SignInLink), rule(l.SignIn)
	out.Status, out.Account, out.Help, out.APIAuthFailures = rule(l.Status), rule(l.Account), rule(l.Help), rule(l.APIAuthFailures)
	out.Reply, out.ReplyLink = rule(l.Reply), rule(l.ReplyLink)
	return out
}
