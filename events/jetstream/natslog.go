package jetstream

import (
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// natsLog is nats-server's logger over zap, at warn and above: the server's
// notices (start, listening, JetStream's limits) and its debug and trace
// lines are dropped, its warnings and errors kept. A fatal error is
// logged as an error: the server then stops on its own, and the process
// ends through the service's shutdown, not zap's exit.
type natsLog struct{ log *zap.Logger }

var _ server.Logger = natsLog{}

func newNATSLog(log *zap.Logger) natsLog {
	return natsLog{log: log.Named("nats").WithOptions(zap.IncreaseLevel(zap.WarnLevel), zap.AddCallerSkip(2))}
}

func (n natsLog) Noticef(format string, v ...any) { n.emit(zapcore.InfoLevel, format, v) }
func (n natsLog) Warnf(format string, v ...any)   { n.emit(zapcore.WarnLevel, format, v) }
func (n natsLog) Errorf(format string, v ...any)  { n.emit(zapcore.ErrorLevel, format, v) }
func (n natsLog) Fatalf(format string, v ...any)  { n.emit(zapcore.ErrorLevel, "fatal: "+format, v) }
func (n natsLog) Debugf(format string, v ...any)  { n.emit(zapcore.DebugLevel, format, v) }
func (n natsLog) Tracef(format string, v ...any)  { n.emit(zapcore.DebugLevel, format, v) }

// emit formats only what the level lets through.
func (n natsLog) emit(level zapcore.Level, format string, v []any) {
	if ce := n.log.Check(level, ""); ce != nil {
		ce.Message = fmt.Sprintf(format, v...)
		ce.Write()
	}
}
