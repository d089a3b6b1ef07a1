; What coderows extracts from Python, as tree-sitter patterns.
; extract_treesitter.py runs this query and derives nesting, qualnames and kinds from
; the captured nodes' ancestors, so a second language is a second query file.

; Definitions: every class and function, at any depth (decorated ones included: the
; definition node sits inside a decorated_definition node).
(class_definition name: (identifier)) @definition.class
(function_definition name: (identifier)) @definition.function

; `global NAME` inside a function or class body: a definition of NAME nested there
; gets a bare qualname (CPython's compiler does the same).
(global_statement) @scope.global

; Imports anywhere in the file, including inside functions.
(import_statement) @import
(import_from_statement) @import
(future_import_statement) @import
