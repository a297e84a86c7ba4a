package container

import "strings"

// LabelPrefix is the prefix of every aima label.
const LabelPrefix = "aima."

// Labelled reports whether labels hold any aima label (a key under
// LabelPrefix). Runtime.List returns exactly the containers that are: the
// ones aima manages, and the ones it must report as unmanaged and never
// touch (another instance's, or one that only looks like aima's, such as
// a container run by hand with aima.engine=vllm).
//
// The stub engine image's own labels (aima.stub, aima.stub.sha256) do not
// count: every container of that image inherits them, whoever runs it.
func Labelled(labels map[string]string) bool {
	for k := range labels {
		if strings.HasPrefix(k, LabelPrefix) && k != imageLabel && !strings.HasPrefix(k, imageLabel+".") {
			return true
		}
	}
	return false
}

// imageLabel is the prefix of the stub image's labels (agent/stub).
const imageLabel = LabelPrefix + "stub"

// Owned reports whether a container with these labels is instance's to
// manage: aima.managed=true and aima.instance=instance (never for an empty
// instance). Every other labelled container is unmanaged.
func Owned(labels map[string]string, instance string) bool {
	return instance != "" && labels[LabelManaged] == "true" && labels[LabelInstance] == instance
}
