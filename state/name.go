package state

import (
	"regexp"
	"sort"
	"strings"
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// ValidName reports whether name is usable as an object name: lowercase
// letters, digits, '.', '_' and '-', 1 to 63 characters, starting and ending
// with a letter or digit. This also rules out path traversal ("..", "/").
func ValidName(name string) bool {
	return nameRE.MatchString(name) && !strings.Contains(name, "..")
}

// CheckName returns an ErrInvalid error naming the field when name is not a
// valid object name, with a valid suggestion where one can be made.
func CheckName(field, name string) error {
	if ValidName(name) {
		return nil
	}
	why := "must be 1-63 characters of a-z, 0-9, '.', '_' or '-', starting and ending with a letter or digit"
	if name == "" {
		return FieldError(field, "is empty; %s", why)
	}
	if s := SuggestName(name); s != "" {
		return FieldError(field, "%q is not a valid name (%s); try %q", name, why, s)
	}
	return FieldError(field, "%q is not a valid name (%s)", name, why)
}

// SuggestName turns s into a valid name (lower-cased, other characters
// replaced by '-'), or "" when nothing usable is left.
func SuggestName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	out := b.String()
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	out = strings.Trim(out, "-._")
	if len(out) > 63 {
		out = strings.Trim(out[:63], "-._")
	}
	if !ValidName(out) {
		return ""
	}
	return out
}

func sortStrings(s []string) { sort.Strings(s) }
