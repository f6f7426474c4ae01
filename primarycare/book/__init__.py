"""The book layer: building the whole book (:mod:`.build`) and adding one case to it transactionally
(:mod:`.newcase`), plus the small Sphinx extension the site needs (:mod:`.sphinx_ext`)."""
