// Escapes in a quoted match: every span must still point at the text as
// written (\t and \u0020 are one byte each in the value).
rule "escaped" {
  match = "ip.src == 10.0.0.1 &&\ttcp.dstport\u0020in {22, 2222} || \u0075dp"
  log   = ["ip.src"]
}
