package runtime_test

import (
	"strings"
	"testing"

	"github.com/hdrlog/hdrlog/runtime"
)

func TestIfaceSet(t *testing.T) {
	set := runtime.IfaceSet{Names: []string{"eth0", "veth*", "lxc[0-9]?"}}
	for name, want := range map[string]bool{
		"eth0": true, "eth1": false, "veth": true, "veth12ab": true, "lxc1a": true, "lxca1": false, "lo": false, "xveth": false,
	} {
		if got := set.Match(name, false); got != want {
			t.Errorf("%v matches %s: %v, want %v", set.Names, name, got, want)
		}
	}
	all := runtime.IfaceSet{All: true}
	if !all.Match("eth0", false) || all.Match("lo", true) {
		t.Error("--all: every interface but loopback")
	}
	if (runtime.IfaceSet{All: true, Names: []string{"lo"}}).Match("lo", true) != true {
		t.Error("--all -i lo: loopback named explicitly")
	}
	for _, tc := range []struct {
		set  runtime.IfaceSet
		want string
	}{
		{runtime.IfaceSet{}, "no interface selected"},
		{runtime.IfaceSet{Names: []string{"veth[0-"}}, `interface pattern "veth[0-" is malformed`},
		{runtime.IfaceSet{Names: []string{"a/b"}}, `"a/b" is not a valid interface name`},
		{runtime.IfaceSet{Names: []string{"sixteen-chars-xx"}}, "not a valid interface name"},
	} {
		if err := tc.set.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.set, err, tc.want)
		}
	}
}
