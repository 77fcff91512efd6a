"""Checks that every example in static/openapi.json is valid against the schema it illustrates.

Run by scripts/schemathesis before the API is fuzzed: an example is what a platform developer
copies first, so a wrong one is a bug in the document. Uses jsonschema_rs, which Schemathesis
installs (the same validator Schemathesis checks responses with).

Usage: python scripts/openapi_examples.py static/openapi.json
"""

import json
import sys

import jsonschema_rs


def media_examples(media):
    if "example" in media:
        yield "example", media["example"]
    for name, example in media.get("examples", {}).items():
        yield name, example["value"]


def checks(doc):
    """(where, schema, value) for every example in the document."""
    for path, item in doc["paths"].items():
        for method, op in item.items():
            label = f"{method.upper()} {path}"
            for param in op.get("parameters", []):
                if "example" in param:
                    yield f"{label} parameter {param['name']}", param["schema"], param["example"]
            for media_type, media in op.get("requestBody", {}).get("content", {}).items():
                for name, value in media_examples(media):
                    yield f"{label} request {media_type} {name}", media["schema"], value
            for status, response in op.get("responses", {}).items():
                for media_type, media in response.get("content", {}).items():
                    for name, value in media_examples(media):
                        yield f"{label} {status} {media_type} {name}", media.get("schema", {}), value
    for name, schema in doc["components"]["schemas"].items():
        for value in schema.get("examples", []):
            yield f"components/schemas/{name} examples", {"$ref": f"#/components/schemas/{name}"}, value
        for prop, sub in schema.get("properties", {}).items():
            for value in sub.get("examples", []):
                yield f"components/schemas/{name}/{prop} examples", sub, value


def main(path):
    doc = json.load(open(path, encoding="utf-8"))
    failures, count = [], 0
    for where, schema, value in checks(doc):
        # The schema is checked inside the whole document, so its $refs resolve.
        wrapped = dict(doc, **{"$ref": "#/components/schemas/__example__"})
        wrapped["components"] = dict(doc["components"], schemas=dict(doc["components"]["schemas"], __example__=schema))
        validator = jsonschema_rs.Draft202012Validator(wrapped, validate_formats=True)
        count += 1
        for error in validator.iter_errors(value):
            failures.append(f"{where}: {error.message} (at /{'/'.join(map(str, error.instance_path))})")
    for failure in failures:
        print(f"openapi example: {failure}", file=sys.stderr)
    print(f"openapi examples: {count} checked, {len(failures)} invalid")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
