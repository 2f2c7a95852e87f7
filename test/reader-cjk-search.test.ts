import { afterAll, describe, expect, it } from 'vitest';
import { cjkBigrams, CjkSearch } from '../src/reader/cjk-search.js';
import { normalizeFilters } from '../src/reader/filters.js';
import { cjkShare } from '../src/reader/fts-query.js';
import { tempDir } from './helpers.js';
import { smallIndex } from './support/small-index.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('CJK search by character bigrams', () => {
  it('splits CJK runs into overlapping bigrams and ignores other text', () => {
    expect([...cjkBigrams('测试驱动 TDD 开发')]).toEqual(['测试', '试驱', '驱动', '开发']);
    expect([...cjkBigrams('plain english')]).toEqual([]);
    expect([...cjkBigrams('雨')]).toEqual(['雨']);
  });

  it('finds a skill whose description shares pieces of the query, not whole runs, best match first', () => {
    const db = smallIndex(tmp.dir, [
      {
        id: 'tdd',
        name: 'tdd-workflow',
        description: '在编写新功能时使用此技能。强制执行测试驱动开发，确保单元测试覆盖率。',
      },
      { id: 'docker', name: 'docker-patterns', description: '用容器编排数据库和缓存服务的模式。' },
      { id: 'english', name: 'pdf', description: 'Extract text from PDF files.' },
    ]);
    const search = new CjkSearch(db);
    const hits = search.search('先写测试再写代码的开发流程怎么做', 10, normalizeFilters(undefined));
    expect(hits[0]?.id).toBe('tdd');
    expect(hits.map((h) => h.id)).not.toContain('english');
    expect(search.search('no cjk here', 10, normalizeFilters(undefined))).toEqual([]);
    expect(search.search('容器 数据库', 10, normalizeFilters({ sourceId: 'other' }))).toEqual([]);
    db.close();
  });

  it('measures how much of a query the English model cannot read', () => {
    expect(cjkShare('明天上海会不会下雨')).toBe(1);
    expect(cjkShare('convert a pdf')).toBe(0);
    expect(cjkShare('PostgreSQL 인덱스 최적화')).toBeGreaterThan(0.3);
    expect(cjkShare('🚀!!')).toBe(0);
  });
});
