package subset

// Mandatory reports whether the table says path of typ is mandatory.
func Mandatory(typ, path string) bool {
	e := lookup(typ).byPath[path]
	return e != nil && e.flags&flagMandatory != 0
}
