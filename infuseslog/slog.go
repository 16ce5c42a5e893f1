// Package infuseslog logs what operators need to know of infuse breakers
// as structured log/slog records: every state change (Info; Warn when the
// breaker opens) and every store error (Warn).
package infuseslog

import (
	"context"
	"log/slog"

	"github.com/infuse-go/infuse"
)

// Listener returns a Listener that logs to logger (slog.Default() when
// nil). Add it to a breaker with Config.Listeners or AddListener.
func Listener(logger *slog.Logger) infuse.Listener {
	if logger == nil {
		logger = slog.Default()
	}
	// It wants nothing but these events, so a breaker it watches keeps
	// its fast paths.
	return infuse.ListenFor(infuse.ListenerFunc(func(e infuse.Event) {
		switch e.Kind {
		case infuse.EventStateChange:
			level := slog.LevelInfo
			if e.To == infuse.Open {
				level = slog.LevelWarn
			}
			logger.LogAttrs(context.Background(), level, "circuit breaker state change",
				slog.String("breaker", e.Name),
				slog.String("from", e.From.String()),
				slog.String("to", e.To.String()),
				slog.String("cause", e.Cause.String()),
				slog.Uint64("generation", e.Generation),
				slog.Bool("remote", e.Remote))
		case infuse.EventStoreError:
			logger.LogAttrs(context.Background(), slog.LevelWarn, "circuit breaker store error",
				slog.String("breaker", e.Name),
				slog.Any("error", e.Err))
		}
	}), infuse.EventStateChange, infuse.EventStoreError)
}
