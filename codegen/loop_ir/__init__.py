"""The loop IR (`loops`), its expressions printed as Python (`pyexpr`) and the names a kernel
may use (`names`): the language the stages after `codegen.prepare` speak."""
