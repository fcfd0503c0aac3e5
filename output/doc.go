// Package output takes events where their readers want them: line formats
// besides JSON (aligned text for terminals, Elastic Common Schema names),
// files that rotate, and captures (pcapng) of the frames that matched.
package output
