package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // substring; "" means valid
	}{
		{"foo", ""},
		{"libfoo", ""},
		{"Foo2", ""},
		{"0ad", ""},
		{"a", ""},
		{"foo-bar", ""},
		{"foo_bar", ""},
		{"foo.bar", ""},
		{"gtk+", ""},
		{"c++", ""},
		{"a..b", ""},
		{"x-1.2.3", ""},
		{strings.Repeat("a", 128), ""},

		{"", `name "" is empty`},
		{strings.Repeat("a", 129), `is 129 bytes, at most 128`},
		{strings.Repeat("a", 200), `is 200 bytes, at most 128`},
		{"a b", `name "a b" contains whitespace`},
		{"a\tb", `contains whitespace`},
		{" foo", `contains whitespace`},
		{"foo\n", `contains whitespace`},
		{"a\u00a0b", `contains whitespace`},
		{"a/b", `name "a/b" contains "/"`},
		{"/", `contains "/"`},
		{"../x", `contains "/"`},
		{"..", `name ".." is not allowed`},
		{".", `name "." is not allowed`},
		{"-foo", `must not start with "-"`},
		{".hidden", `must not start with "."`},
		{"_x", `must not start with "_"`},
		{"+x", `must not start with "+"`},
		{"a\x00b", `contains control character U+0000`},
		{"a\x1b[31m", `contains control character U+001B`},
		{"a\x7f", `contains control character U+007F`},
		{"café", `contains "é"`},
		{"日本", `contains "日"`},
		{"a\xffb", `is not valid UTF-8`},
		{"a\\b", `contains "\\"`},
		{"a:b", `contains ":"`},
		{"a@1", `contains "@"`},
		{"a>=1", `contains ">"`},
		{"a*", `contains "*"`},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateName(%q) = nil, want error containing %q", tt.name, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ValidateName(%q) = %q, want it to contain %q", tt.name, err, tt.wantErr)
		}
		var nerr *NameError
		if !errors.As(err, &nerr) || nerr.Name != tt.name {
			t.Errorf("ValidateName(%q) error %T does not carry the name", tt.name, err)
		}
	}
}

func TestValidateNameLongErrorIsShort(t *testing.T) {
	err := ValidateName(strings.Repeat("a", 10000))
	if err == nil || len(err.Error()) > 120 {
		t.Fatalf("error for a 10000-byte name should be short, got %d bytes: %v", len(err.Error()), err)
	}
}

func TestNameKey(t *testing.T) {
	tests := []struct{ a, b string }{
		{"Foo", "foo"},
		{"LIBFOO", "libfoo"},
		{"Gtk+", "gtk+"},
	}
	for _, tt := range tests {
		if NameKey(tt.a) != NameKey(tt.b) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want equal", tt.a, NameKey(tt.a), tt.b, NameKey(tt.b))
		}
	}
	if NameKey("foo") == NameKey("foo2") {
		t.Error("NameKey must keep different names apart")
	}
}

func TestDefaultName(t *testing.T) {
	tests := []struct{ dir, want string }{
		{"foo", "foo"},
		{"foo-1.2.3", "foo"},
		{"foo-bar", "foo-bar"},
		{"foo-1.0.0-rc.1", "foo"},
		{"foo-1.0.0+build.7", "foo"},
		{"foo-bar-2.0.0", "foo-bar"},
		{"foo-2-1.0.0", "foo-2"},
		{"lib2-0.1.0", "lib2"},
		{"foo-1.2", "foo-1.2"},       // not strict SemVer: kept
		{"foo-v1.2.3", "foo-v1.2.3"}, // "v" prefix is not SemVer
		{"foo-01.2.3", "foo-01.2.3"}, // leading zero
		{"foo-1.2.3-", "foo-1.2.3-"}, // empty pre-release
		{"1.2.3", "1.2.3"},
		{"-1.2.3", "-1.2.3"}, // nothing would be left
		{"foo-", "foo-"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := DefaultName(tt.dir); got != tt.want {
			t.Errorf("DefaultName(%q) = %q, want %q", tt.dir, got, tt.want)
		}
		// SplitDirName gives the same name and the rest as the version.
		name, version, ok := SplitDirName(tt.dir)
		if name != tt.want || ok != (name != tt.dir) || ok && tt.dir != name+"-"+version || !ok && version != "" {
			t.Errorf("SplitDirName(%q) = %q, %q, %v", tt.dir, name, version, ok)
		}
	}
}
