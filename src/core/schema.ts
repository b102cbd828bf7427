/**
 * Validation through the Standard Schema interface (https://standardschema.dev), so zod,
 * valibot and arktype schemas work without adapters. Declared here structurally; no runtime
 * dependency.
 */
import { ValidationError, type ValidationIssue } from './errors.js';

/** The part of the Standard Schema v1 interface redstream uses. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<ValidationIssue> };

/** The type a schema produces. */
export type InferOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : unknown;

/** Validates `value`, returning the schema's output or throwing a {@link ValidationError}. */
export async function validate<S extends StandardSchemaV1>(schema: S, value: unknown, where: string): Promise<InferOutput<S>> {
  let result = schema['~standard'].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) throw new ValidationError(where, result.issues);
  return result.value as InferOutput<S>;
}

/** Whether `value` implements Standard Schema. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { '~standard'?: { validate?: unknown } })['~standard']?.validate === 'function'
  );
}
