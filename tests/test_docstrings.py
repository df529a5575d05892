"""The examples in docstrings that need no files run as written, and `help(ner)` shows the API."""

import doctest
import importlib
import pydoc

import pytest

import ner

# Modules whose examples are self-contained (the others show commands or
# folders a user has, such as runs/default).
SELF_CONTAINED = ["ner.bert", "ner.checkpoint", "ner.crf", "ner.data", "ner.schemes",
                  "ner.serve", "ner.tokenization", "evaluation.metrics"]


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(module, name) if t.examples]
    assert tests, f"{name} has no examples"
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed"


def test_the_lazy_api_shows_in_dir_and_help():
    assert {"Tagger", "Entity", "BertEncoder", "BertConfig", "Tokenizer"} <= set(dir(ner))
    page = pydoc.render_doc(ner, renderer=pydoc.plaintext)
    assert "class Tagger(" in page and "class BertEncoder(" in page
