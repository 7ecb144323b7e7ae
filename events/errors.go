package events

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is the error of an invalid event: the JSON path of the field
// ("data.lines[2].amount") and the rule it broke.
type FieldError struct {
	Field string
	Rule  string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// ErrInvalid is wrapped by every validation error, for errors.Is.
var ErrInvalid = errors.New("invalid event")

func (e *FieldError) Unwrap() error { return ErrInvalid }

// fieldErrs collects field errors while validating one event.
type fieldErrs struct {
	list []*FieldError
}

const maxFieldErrors = 16

func (f *fieldErrs) add(field, format string, args ...any) {
	if len(f.list) < maxFieldErrors {
		f.list = append(f.list, &FieldError{Field: field, Rule: fmt.Sprintf(format, args...)})
	}
}

func (f *fieldErrs) err() error {
	switch len(f.list) {
	case 0:
		return nil
	case 1:
		return f.list[0]
	}
	return &ValidationError{Fields: f.list}
}

// ValidationError holds every field error of one event; the first is the one
// a caller names when it has room for only one.
type ValidationError struct {
	Fields []*FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return strings.Join(parts, "; ")
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// FirstField returns the field error of err to report when only one fits: the
// FieldError itself, or the first of a ValidationError. It returns nil for
// any other error.
func FirstField(err error) *FieldError {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	var ve *ValidationError
	if errors.As(err, &ve) && len(ve.Fields) > 0 {
		return ve.Fields[0]
	}
	return nil
}
