// Disguised values: an identifier with invisible characters between its digits or letters
// ("4111<U+200B>1111…", "AKIA<U+00AD>…"), digits of another script (Arabic-Indic, Devanagari,
// mathematical bold), a figure dash between groups, an address written "jane&#64;acme.com",
// "jane%40acme.com", "jane [at] acme [dot] com" or "jane＠acme．com", a value in full-width
// letters ("ＤＥ８９…"), a key with Cyrillic or Greek letters that look Latin ("АKIA…" with a
// Cyrillic А). A person or a model writes them to slip past a filter; the model reads the value
// all the same.
//
// The literal database also holds the markers of a disguise (disguise_markers()): a text with one
// is scanned a second time in an undisguised copy, and the findings there are mapped back to the
// original bytes (the invisible characters inside are masked with the value). Text without a
// marker — nearly all — costs nothing more than the markers' share of the literal scan.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warden::inspect {

// The literals whose presence makes a text worth undisguising (matched ignoring ASCII case).
const std::vector<std::string>& disguise_markers();

// Whether a marker is a look-alike letter (two bytes): it marks a disguise only beside an ASCII
// letter or digit.
bool lookalike_marker(std::string_view marker);

// The text without its disguises: invisible format characters dropped, other scripts' digits as
// ASCII digits, a figure dash as '-', entity- or percent-encoded '@' and bracketed "at"/"dot" as
// '@' and '.', full-width forms of ASCII as ASCII, look-alike Cyrillic and Greek letters as Latin
// ones in a token (between white space) that also holds an ASCII or full-width letter or digit.
// `from[i]`/`to[i]`: the original bytes [from, to) that output byte i stands for.
// False when nothing changed.
bool undisguise(std::string_view text, std::string& out, std::vector<uint32_t>& from,
                std::vector<uint32_t>& to);

}  // namespace warden::inspect
