// Fault injection from the database side, on a test's own database: no switch in production code.
import type { TestDatabase } from './database.js'

/** Every insert into `table` whose `column` equals `value` sleeps `seconds` first. */
export async function slowInserts (database: TestDatabase, table: string, column: string, value: string, seconds: number): Promise<void> {
  await database.query(`
    create or replace function bw_test_slow() returns trigger language plpgsql as $$
    begin
      if new.${column}::text = '${value}' then perform pg_sleep(${seconds}); end if;
      return new;
    end $$;
    drop trigger if exists bw_test_slow on ${table};
    create trigger bw_test_slow before insert on ${table} for each row execute function bw_test_slow();`)
}

/** Every insert into `table` fails, as a broken handler write would. */
export async function failInserts (database: TestDatabase, table: string): Promise<() => Promise<void>> {
  await database.query(`
    create or replace function bw_test_fail() returns trigger language plpgsql as $$
    begin raise exception 'injected failure'; end $$;
    create trigger bw_test_fail before insert on ${table} for each row execute function bw_test_fail();`)
  return async () => { await database.query(`drop trigger bw_test_fail on ${table}`) }
}
